"""The C target: design-rule checks (checks.py), the stage plan (plan.py), rendering (render.py) and the
cost report (report.py). The hand-written runtime lives in templates/c/runtime/."""
