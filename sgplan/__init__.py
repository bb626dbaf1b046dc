"""sgplan: a Terraform-style planner for Tencent Cloud security groups.

Data flows one way: HCL → desired state (config/); cloud → live state (cloud/);
(desired, live) → plan (plan/) → ordered operations (apply/) → cloud.
"""

__version__ = "0.1.0"
