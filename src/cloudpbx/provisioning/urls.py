from django.urls import path

from cloudpbx.provisioning import views

urlpatterns = [
    path("", views.index, name="provisioning-index"),
    path("<str:filename>", views.serve, name="provisioning-file"),
]
