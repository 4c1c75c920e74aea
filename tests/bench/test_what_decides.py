"""bench/what_decides.py: painted inputs and the table from a result JSON."""

import numpy as np

from bench import what_decides


def test_painted_inputs_paint_the_head_and_the_rest_of_the_bird():
    parts = np.zeros((40, 40), np.uint8)
    parts[10:30, 8:28] = 2  # body
    parts[14:18, 28:32] = 1  # head, right of the body
    image = np.zeros((40, 40, 3), np.uint8)
    image[...] = (10, 20, 30)  # background
    image[parts == 2] = (100, 110, 120)
    image[parts == 1] = (250, 0, 0)
    no_head, head_only = what_decides.painted_inputs(image, parts)
    # The head (grown by 2 px) takes the other parts' mean: the body colour.
    assert (no_head[14:18, 28:32] == (100, 110, 120)).all()
    assert not (no_head == (250, 0, 0)).all(-1).any()
    np.testing.assert_array_equal(no_head[0:5], image[0:5])  # background kept
    # The rest of the bird takes the background's mean; the head stays.
    assert (head_only[20:30, 8:20] == (10, 20, 30)).all()
    np.testing.assert_array_equal(head_only[15:17, 29:31], image[15:17, 29:31])


def test_render_gives_mean_and_std_and_the_source_answers():
    def run(name, values):
        return {
            "run": f"/somewhere/{name}",
            "top1": {
                k: {str(c): v for c, v in enumerate(vals)}
                for k, vals in zip(what_decides.INPUTS, values)
            },
        }

    result = {
        "split": "test",
        "runs": [
            run("a", [[99.0, 90.0], [5.0, 92.0], [99.0, 4.0]]),
            run("b", [[97.0, 94.0], [7.0, 90.0], [97.0, 6.0]]),
        ],
        "source": {
            "recipe": "mixed20",
            "answers": {
                k: {"0": [[6, "part", 100]], "1": [[19, "plumage", 80]]}
                for k in what_decides.INPUTS
            },
        },
        "meta": {"command": "python bench/what_decides.py", "cpu": "x"},
    }
    text = what_decides.render(result)
    assert "| 0 | 98.0 ± 1.4 | 6.0 ± 1.4 | 98.0 ± 1.4 |" in text
    assert "| 1 | 92.0 ± 2.8 | 91.0 ± 1.4 | 5.0 ± 1.4 |" in text
    assert "6 (part) x100" in text and "19 (plumage) x80" in text
    assert "/somewhere" not in text
