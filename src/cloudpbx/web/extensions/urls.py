from django.urls import path

from cloudpbx.web.extensions import views

app_name = "extensions"
urlpatterns = [
    path("", views.extension_list, name="list"),
    path("add/", views.extension_add, name="add"),
    path("<int:pk>/", views.extension_edit, name="edit"),
    path("<int:pk>/delete/", views.extension_delete, name="delete"),
]
