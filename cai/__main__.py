"""`python -m cai` is the same as the `cai` command (import-safe: vLLM spawns worker processes)."""

from cai.cli import main

if __name__ == "__main__":
    main()
