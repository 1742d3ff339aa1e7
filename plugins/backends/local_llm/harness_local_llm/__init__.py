"""``llm=local``: researcher, analyzer and repair from a chat model on disk, in-process."""
