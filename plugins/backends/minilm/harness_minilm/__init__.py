"""``cognition=minilm``: all-MiniLM-L6-v2 sentence embeddings for the cognition base, from disk."""
