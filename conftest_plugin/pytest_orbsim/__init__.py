"""pytest plugin for orbsim (fixtures and marker arrive with the plugin issue)."""
