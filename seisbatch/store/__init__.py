"""The seisbatch Zarr store, by concern: ``layout`` (what a store holds, creating and opening it),
``progress`` (block progress of every job that resumes; a conversion's completion), ``paths``
(URLs and output safety) and ``codecs`` (compression and the codec pipeline). Everything is
importable from here.
"""

from __future__ import annotations

from ..errors import SeisbatchError
from .codecs import (  # noqa: F401
    AMPLITUDE_CODECS, PIPELINES, quiet_foreign_dtypes, use_codec_pipeline, compression_name, amplitude_codec, codec_name,
)
from .paths import (  # noqa: F401
    check_folder, is_url, url_fs, is_store, _ZARR_MARKERS, is_zarr_dir, prepare_output,
)
from .layout import (  # noqa: F401
    FORMAT_VERSION, FILE, INTERNAL, internal, find_internal, HEADER_BYTES, b64, unb64, default_chunks, create, write_trace_order, open_root, meta, open_complete, update_meta, consolidate, source_id, same_source,
)
from .progress import (  # noqa: F401
    GROUP, CONVERSION, start_blocks, mark_done, read_blocks, done_mask, clear_blocks, _WRITABLE, writable,
    unfinished_conversion, finish,
)

try:  # every seisbatch process (client or worker) opens its arrays with the chosen pipeline
    use_codec_pipeline()
except SeisbatchError:  # an unknown or missing pipeline: said clearly by the CLI and by the writers
    pass
