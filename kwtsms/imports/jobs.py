from ..jobs import job
from . import service


@job
def run_import_job(import_id):
    """The RQ job for one contact import."""
    return service.run_import(import_id).status
