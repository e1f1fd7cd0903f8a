"""Django admin pieces the apps share (core is not an installed app: nothing here is registered)."""


class ReadOnlyAdminMixin:
    """For a log (history, e-mail sent, webhook deliveries): admin lists and shows its rows and never adds,
    edits or deletes one; its actions (send again, redeliver) still act through the services."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
