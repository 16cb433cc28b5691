"""Reading photos and depth maps, naming and writing output files (atomically)."""
