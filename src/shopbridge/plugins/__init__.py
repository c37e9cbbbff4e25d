"""Plugins: pluggy hooks where partners change what is written, and declarative mappings for the common
cases. See `hookspecs` for the hooks, `manager` for loading and the helpers the flows call,
`declarative` for the settings' mappings and `examples/plugins/` for a documented plugin.
"""

from shopbridge.plugins.errors import PluginError
from shopbridge.plugins.hookspecs import hookimpl, hookspec
from shopbridge.plugins.manager import Plugins, code_plugins_allowed, plugins_dir

__all__ = ["PluginError", "Plugins", "code_plugins_allowed", "hookimpl", "hookspec", "plugins_dir"]
