"""The bottom layer every app imports: the domain error and the API's shared plumbing.

Nothing here imports an app of the project; settings, URLs and ASGI (`config/`) sit on top.
"""
