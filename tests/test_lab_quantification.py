"""The quantisation lab's (Projet 8) tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them changed into a shortcut) and the graded test cells, hidden tests included, under
the ci profile. A shortcut must fail exactly the test cells that check what it skips,
and the solution none (test_grading.py grades it).
"""

import pytest
from lab_copies import failed_test_cells

LAB = "partie-09-quantification"

# torch's own quantiser inside the student's function (forbidden)
LIBRARY_INT8 = (
    "int8_answer",
    "codes = torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8)",
    "zeros = torch.zeros(len(scales), dtype=torch.long)\n"
    "    codes = torch.quantize_per_channel(w, scales.double(), zeros, 0, torch.qint8).int_repr()",
)
# truncation instead of rounding
TRUNCATED = (
    "int8_answer",
    "codes = torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8)",
    "codes = torch.trunc(w / scales[:, None]).clamp(-127, 127).to(torch.int8)",
)
# one INT4 code per byte: the model works, but it is not 4 bits per weight
UNPACKED = (
    "int4_answer",
    "return pack_int4((codes + 8).to(torch.uint8)), scales",
    "return (codes + 8).to(torch.uint8), scales",
)
UNPACKED_DEQ = (
    "int4_answer",
    "codes = unpack_int4(packed).to(torch.float32) - 8",
    "codes = packed.to(torch.float32) - 8",
)
# one scale for the whole matrix, repeated per group
PER_TENSOR = (
    "int4_answer",
    "amax = groups.abs().amax(dim=-1)",
    "amax = groups.abs().amax().expand(rows, cols // group_size)",
)
# a float copy of the weights kept for a fast forward
FLOAT_CACHE = (
    "quantlinear_answer",
    'self.register_buffer("scales", scales)',
    'self.register_buffer("scales", scales)\n        self.weight_cache = w.float().clone()',
)
FLOAT_FORWARD = (
    "quantlinear_answer",
    "return F.linear(x, w.to(x.dtype),",
    "return F.linear(x, self.weight_cache,",
)

CASES = {
    "torch_quantize_per_channel": ([LIBRARY_INT8], {"test_int8", "test_quantlinear"}),
    "truncated_codes": ([TRUNCATED], {"test_int8", "test_quantlinear"}),
    "unpacked_int4": ([UNPACKED, UNPACKED_DEQ], {"test_int4", "test_quantlinear", "test_size"}),
    "per_tensor_int4": ([PER_TENSOR], {"test_int4", "test_quantlinear", "test_quality"}),
    "float_weight_cache": ([FLOAT_CACHE, FLOAT_FORWARD], {"test_quantlinear", "test_quality", "test_size"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected = CASES[case]
    assert failed_test_cells(LAB, edits) == expected
