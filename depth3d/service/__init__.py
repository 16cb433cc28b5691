"""The depth backend service: one model behind HTTP, so Blender never imports torch.

:mod:`.protocol` (the server's options; the wire format is :mod:`depth3d.backends.protocol`, shared
with the client), :mod:`.server` (``depth3d serve``),
:mod:`.manager` (start/stop a local service from another Python, standard library only).
The client is :class:`depth3d.backends.remote.RemoteBackend`.  Nothing heavy is imported here.
"""
