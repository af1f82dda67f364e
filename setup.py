# Shim for Beam's --setup_file (it wants setup.py); all metadata lives in setup.cfg. The one C extension
# is optional: without a compiler, trailbeam.storescan walks the store in Python (slower, same results).
from setuptools import Extension, setup

setup(ext_modules=[Extension("trailbeam._storescan", ["trailbeam/_storescan.c"], optional=True)])
