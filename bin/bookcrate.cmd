@echo off
rem Windows: runs bin\bookcrate with node, so that "bookcrate" works in cmd and PowerShell once this
rem folder is on PATH (Windows cannot run a file without an extension). The exit code passes through.
node "%~dp0bookcrate" %*
