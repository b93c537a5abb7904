"""``rvclora demo``: the whole pipeline offline on a fresh machine, on a world it builds itself.

Rooms: ``speech`` (speech-like audio from a source-filter model), ``assets`` (tiny random base G/D and
content encoder in upstream layouts), ``world`` (the demo folder's inputs), ``runner`` (the steps).
"""
