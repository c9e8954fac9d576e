"""Native-code targets: the model re-implemented as source code in a production language.

:mod:`.lower` is the one lowering of the IR every emitter consumes; each language module
(``c``, ``python``, ...) registers its own target.  Targets never import each other.
"""
