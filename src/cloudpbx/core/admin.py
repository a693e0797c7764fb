from django.contrib import admin

# Services are the only write path: the bulk "delete selected" action would bypass them.
admin.site.disable_action("delete_selected")
admin.site.site_header = "cloudpbx"
admin.site.site_title = "cloudpbx"
