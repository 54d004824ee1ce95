"""The web console's assets (``static/``), served under ``/console`` by ``api/console_pages.py``.

Plain ES modules, no build step: ``static/vendor.js`` (Preact with its hooks and htm) is the one
generated file, rebuilt by ``make console-vendor`` from ``console-vendor/`` and committed."""
