from django.urls import path

from cloudpbx.web.terminals import views

app_name = "terminals"
urlpatterns = [
    path("", views.terminal_list, name="list"),
    path("add/", views.terminal_add, name="add"),
    path("models/", views.device_models, name="models"),
    path("<int:pk>/", views.terminal_edit, name="edit"),
    path("<int:pk>/delete/", views.terminal_delete, name="delete"),
    path("<int:pk>/handsets/add/", views.handset_add, name="add-handset"),
    path("<int:pk>/password/<str:kind>/", views.terminal_password, name="password"),
    path("<int:pk>/app-link/", views.terminal_app_link, name="app-link"),
    path("<int:pk>/softphone/", views.terminal_softphone, name="softphone"),
    path("<int:pk>/softphone/credential/", views.softphone_credential, name="softphone-credential"),
]
