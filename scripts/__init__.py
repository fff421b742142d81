"""Shell that kub runs on hosts (shipped inside the kub_plugin package as kub_plugin.scripts)."""
