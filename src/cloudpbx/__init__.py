"""cloudpbx: an open-source, multi-tenant Cloud PBX."""

__version__ = "0.1.0"
