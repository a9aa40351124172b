"""The local runtime: rolepact's functions on the built-in fake cloud, wired from s.yaml.

Not part of the deployable package (it needs `fakecloud`); `make package` leaves it out.
"""
