"""Per-frame data files: segments (replayable), DAVIS mask PNGs, MOTS tracks, edge maps and proposals."""
