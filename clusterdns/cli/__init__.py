"""The command line (typer): serve, dump, diff, explain."""
