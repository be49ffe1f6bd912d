"""Glance's image and member schemas (what /v2/schemas/* serves, and what every
created or changed image is validated against), and the attribute classes the
create and update rules need."""

from __future__ import annotations

import jsonschema

from ..common.errors import Invalid

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
STATUSES = ("queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete",
            "deactivated")
MEMBER_STATUSES = ("pending", "accepted", "rejected")
UUID_PATTERN = "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
MAX_INT = 2**31 - 1

# Glance's attribute classes (glance/api/v2/images.py).
READ_ONLY = ("checksum", "os_hash_algo", "os_hash_value", "created_at", "updated_at", "size", "virtual_size",
             "status", "direct_url", "self", "file", "schema", "stores", "id")
RESERVED = ("location", "locations", "deleted", "deleted_at")
CORE = ("name", "visibility", "protected", "os_hidden", "disk_format", "container_format", "min_disk", "min_ram",
        "tags", "owner")
RESERVED_PREFIX = "os_glance"

_IMAGE_PROPERTIES = {
    "id": {"type": "string", "description": "An identifier for the image", "pattern": UUID_PATTERN},
    "name": {"type": ["null", "string"], "description": "Descriptive name for the image", "maxLength": 255},
    "status": {"type": "string", "readOnly": True, "description": "Status of the image", "enum": list(STATUSES)},
    "visibility": {"type": "string", "description": "Scope of image accessibility", "enum": list(VISIBILITIES)},
    "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
    "os_hidden": {"type": "boolean", "description": "If true, image will not appear in default image list response."},
    "checksum": {"type": ["null", "string"], "readOnly": True, "maxLength": 32,
                 "description": "md5 hash of image contents."},
    "os_hash_algo": {"type": ["null", "string"], "readOnly": True, "maxLength": 64,
                     "description": "Algorithm to calculate the os_hash_value"},
    "os_hash_value": {"type": ["null", "string"], "readOnly": True, "maxLength": 128,
                      "description": "Hexdigest of the image contents using the algorithm specified by the "
                                     "os_hash_algo"},
    "owner": {"type": ["null", "string"], "description": "Owner of the image", "maxLength": 255},
    "size": {"type": ["null", "integer"], "readOnly": True, "description": "Size of image file in bytes"},
    "virtual_size": {"type": ["null", "integer"], "readOnly": True, "description": "Virtual size of image in bytes"},
    "container_format": {"type": ["null", "string"], "description": "Format of the container",
                         "enum": [None, *CONTAINER_FORMATS]},
    "disk_format": {"type": ["null", "string"], "description": "Format of the disk", "enum": [None, *DISK_FORMATS]},
    "created_at": {"type": "string", "readOnly": True, "description": "Date and time of image registration"},
    "updated_at": {"type": "string", "readOnly": True, "description": "Date and time of the last image modification"},
    "tags": {"type": "array", "description": "List of strings related to the image",
             "items": {"type": "string", "maxLength": 255}},
    "direct_url": {"type": "string", "readOnly": True, "description": "URL to access the image file kept in "
                                                                     "external store"},
    "min_ram": {"type": "integer", "minimum": 0, "maximum": MAX_INT,
                "description": "Amount of ram (in MB) required to boot image."},
    "min_disk": {"type": "integer", "minimum": 0, "maximum": MAX_INT,
                 "description": "Amount of disk space (in GB) required to boot image."},
    "self": {"type": "string", "readOnly": True, "description": "An image self url"},
    "file": {"type": "string", "readOnly": True, "description": "An image file url"},
    "stores": {"type": "string", "readOnly": True, "description": "Store in which image data resides.  Only "
                                                                 "present when the operator has enabled multiple "
                                                                 "stores.  May be a comma-separated list of store "
                                                                 "identifiers."},
    "schema": {"type": "string", "readOnly": True, "description": "An image schema url"},
    "locations": {"type": "array", "description": "A set of URLs to access the image file kept in external store",
                  "items": {"type": "object", "required": ["url", "metadata"],
                            "properties": {"url": {"type": "string", "maxLength": 255},
                                           "metadata": {"type": "object"},
                                           "validation_data": {"type": "object"}}}},
    "kernel_id": {"type": ["null", "string"], "pattern": UUID_PATTERN, "is_base": False,
                  "description": "ID of image stored in Glance that should be used as the kernel when booting an "
                                 "AMI-style image."},
    "ramdisk_id": {"type": ["null", "string"], "pattern": UUID_PATTERN, "is_base": False,
                   "description": "ID of image stored in Glance that should be used as the ramdisk when booting an "
                                  "AMI-style image."},
    "instance_uuid": {"type": "string", "is_base": False,
                      "description": "Metadata which can be used to record which instance this image is "
                                     "associated with. (Informational only, does not create an instance "
                                     "snapshot.)"},
    "architecture": {"type": "string", "is_base": False,
                     "description": "Operating system architecture as specified in "
                                    "https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html"},
    "os_distro": {"type": "string", "is_base": False,
                  "description": "Common name of operating system distribution as specified in "
                                 "https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html"},
    "os_version": {"type": "string", "is_base": False,
                   "description": "Operating system version as specified by the distributor."},
}
_IMAGE_LINKS = [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                {"rel": "describedby", "href": "{schema}"}]

IMAGE_SCHEMA = {"name": "image", "properties": _IMAGE_PROPERTIES, "additionalProperties": {"type": "string"},
                "links": _IMAGE_LINKS}
IMAGES_SCHEMA = {
    "name": "images",
    "properties": {"images": {"type": "array", "items": IMAGE_SCHEMA},
                   "schema": {"type": "string"}, "first": {"type": "string"}, "next": {"type": "string"}},
    "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
              {"rel": "describedby", "href": "{schema}"}],
}
_MEMBER_PROPERTIES = {
    "member_id": {"type": "string", "description": "An identifier for the image member (tenantId)"},
    "image_id": {"type": "string", "description": "An identifier for the image", "pattern": UUID_PATTERN},
    "created_at": {"type": "string", "description": "Date and time of image member creation"},
    "updated_at": {"type": "string", "description": "Date and time of last modification of image member"},
    "status": {"type": "string", "description": "The status of this image member", "enum": list(MEMBER_STATUSES)},
    "schema": {"type": "string", "readOnly": True},
}
MEMBER_SCHEMA = {"name": "member", "properties": _MEMBER_PROPERTIES}
MEMBERS_SCHEMA = {"name": "members", "properties": {"members": {"type": "array", "items": MEMBER_SCHEMA},
                                                    "schema": {"type": "string"}},
                  "links": [{"rel": "describedby", "href": "{schema}"}]}
SCHEMAS = {"image": IMAGE_SCHEMA, "images": IMAGES_SCHEMA, "member": MEMBER_SCHEMA, "members": MEMBERS_SCHEMA}

_validator = jsonschema.Draft4Validator(IMAGE_SCHEMA)


def validate_image(document: dict) -> None:
    """Glance's check of a created or changed image: 400 naming what does not fit."""
    error = jsonschema.exceptions.best_match(_validator.iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        raise Invalid(f"Provided object does not match schema 'image': {error.message}"
                      + (f" (at {where})" if where else ""))


def check_attribute(name: str, creating: bool) -> None:
    """403 for attributes nobody may set (Glance's read-only and reserved lists)."""
    from ..common.errors import Forbidden

    if name in RESERVED:
        raise Forbidden(f"Attribute '{name}' is reserved.")
    if name in READ_ONLY and not (creating and name == "id"):
        raise Forbidden(f"Attribute '{name}' is read-only.")
    if name.startswith(RESERVED_PREFIX):
        raise Forbidden(f"Attribute '{name}' is reserved: names that start with {RESERVED_PREFIX} are Glance's own.")
