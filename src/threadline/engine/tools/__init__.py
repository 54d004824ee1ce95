"""Built-in tools the server executes itself (file_search, code_interpreter), behind one seam:
``base.ServerTool``. The run loop knows only that seam."""
