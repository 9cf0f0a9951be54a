"""``report``: aggregate the artifacts (and Supabase, when configured) into a report.

:mod:`.options` (settings, options and the section windows), :mod:`.build` (one function per
section), :mod:`.supabase` (the Supabase sections and their cache), :mod:`.notifications`
(``--notify``), :mod:`.context` (what the renderers are given) and :mod:`.run` (end to end).
Kept empty so that a renderer importing :mod:`.context` loads nothing else.
"""
