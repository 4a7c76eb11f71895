"""botocore's data loader, minus two costs of a function's first AWS client.

A botocore client is built from JSON shipped in `botocore/data`: the service's model and endpoint
rule set, plus `endpoints.json` (1.2 MB) for every session. The first S3 client of a process took a
median of 61 ms to create, of which (py-spy, fresh processes):

- about 18 ms listing every service: `Loader.load_service_model` lists the 400-odd service folders
  (a `listdir` and up to two `stat`s each) to check the name it was given, once for the model and
  once for the rule set, before it reads the one folder it needs;
- about 16 ms more than needed decoding JSON: botocore decodes with `object_pairs_hook=OrderedDict`,
  half the speed of plain decoding. Dicts keep insertion order, and botocore's model classes build
  their own ordered maps from the data (`botocore.model`), so the order it relies on is kept.

`Loader` here does the same work without those two costs: the service's folder alone says whether it
exists (the full list is read only to name the known services in `UnknownServiceError`), and files
decode to plain dicts. Same files, same search path (`AWS_DATA_PATH`), same extras; a fresh S3 client
in 29 ms instead of 61 (7 interleaved fresh processes each, docs/architecture.md). The tests compare
its models with botocore's own loader's.

Imported by `smartcourse.aws` when it makes the process's botocore session, never at handler import.
"""

from __future__ import annotations

import gzip
import json
import os
from typing import Any

from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, instance_cache
from botocore.loaders import Loader as BotocoreLoader

#: botocore's own order: a plain file first, then the gzipped one (`botocore.loaders._JSON_OPEN_METHODS`)
_OPENERS: tuple[tuple[str, Any], ...] = ((".json", open), (".json.gz", gzip.open))


class PlainJSONFileLoader(JSONFileLoader):  # type: ignore[misc]
    """`JSONFileLoader` decoding to plain (insertion-ordered) dicts."""

    def load_file(self, file_path: str) -> Any:
        for ext, opener in _OPENERS:
            path = file_path + ext
            if os.path.isfile(path):
                with opener(path, "rb") as fp:
                    return json.loads(fp.read())
        return None


class Loader(BotocoreLoader):  # type: ignore[misc]
    """botocore's `Loader` that finds a service by its own folder, not by listing them all."""

    FILE_LOADER_CLASS = PlainJSONFileLoader

    @instance_cache  # type: ignore[misc]
    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        if api_version is None:
            try:
                api_version = self.determine_latest_version(service_name, type_name)
            except DataNotFoundError:  # no such service (or type): botocore's own error and message
                return super().load_service_model(service_name, type_name)
        model = self.load_data(os.path.join(service_name, api_version, type_name))
        self._extras_processor.process(model, self._find_extras(service_name, type_name, api_version))
        return model


def install(session: Any) -> None:
    """Make `session` (a botocore session, before its first client) load its data with `Loader`,
    on the same search path as botocore's default loader (`AWS_DATA_PATH` first)."""
    data_path = session.get_config_variable("data_path")
    extra = None if data_path is None else \
        [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)]
    session.register_component("data_loader", Loader(extra_search_paths=extra))
