"""Command-line helpers; imported only by the scripts under tools/."""
