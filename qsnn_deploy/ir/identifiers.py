"""Names that become identifiers in generated code: the reserved words of every emitted language and the
identifier pattern every target accepts.

Targets refuse such names (the shared design rule ``identifiers``, targets/rules.py); the NIR import keeps them
out of the op names it makes (interop/nir_names.py). Both read them here, below both (docs/architecture.md).
"""

from __future__ import annotations

import re

# Reserved words of every language a target emits (C99/C11/C23, C++, Verilog-2005/SystemVerilog, VHDL-ish
# basics, Tcl commands used in scripts) and macros of the standard headers: a name that is an identifier in
# one language and a keyword in another would break only that target, so every target refuses all of them.
RESERVED = frozenset(
    """auto break case char const continue default do double else enum extern float for goto if inline int
    long register restrict return short signed sizeof static struct switch typedef union unsigned void
    volatile while _Bool _Complex _Imaginary _Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert
    _Thread_local alignas alignof bool constexpr false nullptr static_assert thread_local true typeof
    typeof_unqual NULL main errno assert offsetof
    class namespace template typename this new delete public private protected virtual friend operator using
    try catch throw explicit mutable export import module concept requires co_await co_return co_yield
    decltype noexcept final override and or not xor
    always always_ff always_comb always_latch assign begin end endmodule input output inout wire reg logic
    integer genvar generate endgenerate parameter localparam initial posedge negedge function endfunction
    task endtask case endcase casez casex default forever repeat fork join specify endspecify primitive
    table endtable edge event real realtime time supply0 supply1 tri wand wor buf nand nor xnor
    interface endinterface package endpackage program endprogram property sequence unique priority""".split()
)
# A letter, then letters, digits or underscores, at most 48 characters.
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}\Z")

__all__ = ["IDENTIFIER", "RESERVED"]
