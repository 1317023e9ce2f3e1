"""seisbatch: deep-learning denoising of large seismic surveys on Dask.

A survey goes SEG-Y/HDF5 -> chunked Zarr (``seisbatch convert``) -> denoised array in the same
store -> SEG-Y with the original headers (``seisbatch export``). The store opens with plain
``xarray.open_zarr`` and keeps everything needed to write the original file back byte for byte.
"""

__version__ = "0.1.0"
