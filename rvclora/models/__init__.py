"""The RVC model layer: synthesizers, discriminators, mel front end and checkpoint I/O.

State-dict keys, shapes and order match upstream RVC exactly, so every RVC file loads and every file
written here loads in RVC. Import the submodules directly (this package keeps ``import rvclora`` light).
"""
