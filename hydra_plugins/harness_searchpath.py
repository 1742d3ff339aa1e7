"""Hydra search-path plugin: adds the ``conf/`` package of every installed harness plugin."""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class HarnessSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from harness.confpaths import plugin_conf_packages

        for package in plugin_conf_packages():
            search_path.append(provider=f"harness:{package}", path=f"pkg://{package}")
