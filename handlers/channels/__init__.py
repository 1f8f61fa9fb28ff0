"""Channel adapters, one package each (DESIGN.md "The rooms"); older ones still sit in handlers/."""
