"""The SFT lab's (Projet 5) tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them changed into a shortcut) and the graded test cells, hidden tests included, under
the ci profile. A shortcut must fail exactly the test cells that check what it skips,
and the solution none (test_grading.py grades it). Shortcuts that cannot change what the fine-tuning learns leave
the training cells out (they cost most of a copy); those that can keep them, so that
their effect on the valid tool-call rate is checked too.
"""

import pytest
from lab_copies import failed_test_cells

LAB = "partie-07-sft"
SETUP = frozenset({"setup", "model", "reference"})  # loaded once per process
TRAINING = frozenset({"train", "test_tool_calls", "forgetting", "test_forgetting"})

# the template without the blank line that closes each turn
NO_BLANK_LINE = ("render_answer", 'parts.append("\\n\\n")', 'parts.append("\\n")')
# the assistant mask stops before the end-of-text token: the model never learns to stop
NO_EOS = (
    "tokenize_answer",
    'spans.append((start, start + len(message["content"]) + len(EOS)))',
    'spans.append((start, start + len(message["content"])))',
)
# each piece tokenised on its own: the tokens at the boundaries differ from the whole text's
PIECEWISE = (
    "tokenize_answer",
    """    text, spans = "", []  # spans : intervalles de caractères [début, fin) des réponses (contenu + EOS)
    for message in messages:
        if message["role"] == "assistant":
            start = len(text) + len(f"### {message['role']}\\n")
            spans.append((start, start + len(message["content"]) + len(EOS)))
        text += render_chat([message])
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(a < end and b > start for start, end in spans)) for a, b in encoding["offset_mapping"]]
    return {"input_ids": list(encoding["input_ids"]), "assistant_masks": mask}""",
    """    ids, mask = [], []
    for message in messages:
        text = render_chat([message])
        pieces = [(text, 0)]
        if message["role"] == "assistant":
            head, body = f"### {message['role']}\\n", message["content"] + EOS
            pieces = [(head, 0), (body, 1), (text[len(head) + len(body) :], 0)]
        for piece, flag in pieces:
            piece_ids = tokenizer(piece, add_special_tokens=False)["input_ids"]
            ids += piece_ids
            mask += [flag] * len(piece_ids)
    return {"input_ids": ids, "assistant_masks": mask}""",
)
# labels on every real token (the mask is the attention mask): the prompt is trained on too
ALL_TOKENS = ("collate_answer", "labels[i, : len(ids)] = torch.where(keep, ids, -100)", "labels[i, : len(ids)] = ids")
# logits and labels of the same position: the model learns to copy its input
UNSHIFTED = ("loss_answer", "logits, targets = logits[:, :-1], labels[:, 1:]", "logits, targets = logits, labels")
# the mean of per-sequence means instead of TRL's mean over the batch's tokens
PER_SEQUENCE = (
    "loss_answer",
    "return per_token.sum() / counted.sum().clamp(min=1)",
    "return (per_token.view_as(targets).sum(1) / counted.sum(1).clamp(min=1)).mean()",
)

CASES = {
    "template_without_blank_line": ([NO_BLANK_LINE], {"test_render", "test_tokenize", "test_collate"}, TRAINING),
    "tokenised_piece_by_piece": ([PIECEWISE], {"test_tokenize", "test_collate"}, TRAINING),
    "mask_without_end_of_text": ([NO_EOS], {"test_tokenize", "test_collate", "test_tool_calls"}, frozenset()),
    "loss_on_all_tokens": ([ALL_TOKENS], {"test_collate"}, frozenset()),
    "unshifted_labels": ([UNSHIFTED], {"test_loss", "test_tool_calls"}, frozenset()),
    "mean_of_sequence_means": ([PER_SEQUENCE], {"test_loss"}, TRAINING),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected, skip = CASES[case]
    assert failed_test_cells(LAB, edits, skip=skip, reuse=SETUP) == expected
