"""Photo + depth → geometry: camera, depth conventions, grid, edges, mesh, decimation, in-fill."""
