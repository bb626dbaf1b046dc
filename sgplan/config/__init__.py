"""HCL configuration → `DesiredState`: load files and modules, settle variables, evaluate
expressions, build and validate groups, bindings and outputs (DESIGN §2).

    cfg, diags = load_configuration(Path("examples/quickstart"), var_inputs=[("var", "k=v")])
    desired, diags = cfg.evaluate(known_ids={"security_group.web": "sg-12345678"})
"""

from sgplan.config.configuration import Configuration, load_configuration
from sgplan.config.values import Unknown

__all__ = ["Configuration", "Unknown", "load_configuration"]
