"""Hydra search-path plugin: the user's config directory and every harness plugin's ``conf/``.

For harness's own configs only (Hydra runs this plugin for every Hydra application in the
environment, so it leaves the others alone):

- the user's directory goes first, before the core's ``conf/``: ``$HARNESS_CONF_DIR`` when
  it is set (empty: none), else ``./conf`` when the working directory has one. A config
  there wins over the packaged one of the same name, so ``conf/experiment/sampler_study.yaml``
  edited in a project replaces ``+experiment=sampler_study``, and new files add options
  (``conf/experiment/my_study.yaml`` is ``+experiment=my_study``). A ``conf/config.yaml``
  there would replace the primary config, so keep to group folders;
- the ``conf/`` package of every installed harness plugin goes last.
"""

from hydra.core.config_search_path import ConfigSearchPath, SearchPathQuery
from hydra.plugins.search_path_plugin import SearchPathPlugin


class HarnessSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from harness.confpaths import CORE_CONF, plugin_conf_packages, user_conf_dir

        core = [element for element in search_path.get_path() if element.path in CORE_CONF]
        user = user_conf_dir() if core else None
        if user is not None:
            anchor = SearchPathQuery(provider=core[0].provider, path=core[0].path)
            search_path.prepend("harness:conf_dir", f"file://{user}", anchor=anchor)
        for package in plugin_conf_packages():
            search_path.append(provider=f"harness:{package}", path=f"pkg://{package}")
