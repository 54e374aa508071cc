"""The Unlearning Lab's Gradio UI; ``app.py`` parses the command line and launches ``layout.build_app``.

Modules, each importing only those listed after it (no cycles):

- ``layout``: the page (``build_app``): lays out the tabs and wires their events to the handlers.
- ``freshness``: marks a section's results stale when the controls or a later run no longer match them, disables a
  running section's button (saying so), and clears an old error when a new computation starts.
- ``learn``: the Learn tab: lessons, their figures (from the core's shipped lesson data) and "Try it" buttons.
- ``configs``: a configuration of the Lab's controls: loading one (Try it, deep links, examples) with its cached
  result, sharing one, the forget pickers kept in step with the target box, and stale-result marks.
- ``tabs``: the components of each tab (labels, ``elem_id`` values).
- ``handlers``: the event handlers that are API endpoints (``/run``, ``/compare``, ...) and ``user_errors``.
- ``panels``: turns an inspection view into the values of the result panels (figures from ``unlearn_core.plots``).
- ``warmup``: computes the examples in the background at start-up.
- ``launch``: app.py's limit flags (budget, wall-clock cap, queue share per address, cache size) and the
  instance's private folder, set up before the page.
- ``compute``: validates requests, checks them against the run budget, queues them for the compute slots and
  runs them through ``unlearn_core.runner`` / ``unlearn_core.inspection``; the runs' files and their clean-up.
- ``gpu``: the device runs compute on, how many at once, and the ZeroGPU lease (``spaces.GPU``) on a Space.
- ``catalogue``: the models and methods offered, and their descriptions, read from the core's registries.
- ``state``: per-process shared state: result caches, cancel flags, the compute queue, the demo's limits.
- ``config``: defaults and the examples.
"""
