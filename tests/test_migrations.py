"""Every model change has its migration: a choice added in code (a new phone vendor, say) that
no migration records would leave the database and the code disagreeing after an upgrade."""

from io import StringIO

from django.core.management import call_command


def test_no_model_change_is_without_its_migration(db):
    output = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=output, stderr=output)
    except SystemExit as exit:
        raise AssertionError(f"missing migrations:\n{output.getvalue()}") from exit
    assert "No changes detected" in output.getvalue()
