from cloudpbx.core import events
from cloudpbx.extensions.models import Extension
from cloudpbx.extensions.services import create_extension
from cloudpbx.testing import make_tenant


def test_an_extension_deleted_in_the_admin_goes_through_the_service(
    admin_client, django_capture_on_commit_callbacks
):
    """The service's event is what makes Kamailio stop routing to it at once."""
    extension = create_extension(make_tenant(), number="21")
    seen = []

    def record(**payload):
        seen.append(payload)

    events.subscribe("extension.deleted", record)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                f"/admin/extensions/extension/{extension.pk}/delete/", {"post": "yes"}
            )
    finally:
        events.unsubscribe("extension.deleted", record)
    assert response.status_code == 302
    assert not Extension.objects.filter(pk=extension.pk).exists()
    assert seen == [{"tenant_id": extension.tenant_id, "extension_id": extension.pk}]
