from django.contrib import admin

from attendance.models import TutoringSession


@admin.register(TutoringSession)
class TutoringSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "tutor", "student", "scheduled_start", "tutor_attendance_status",
                    "student_attendance_status", "attendance_source"]
    list_filter = ["attendance_source", "student_attendance_status", "scheduled_start"]
    search_fields = ["title", "tutor__username", "student__username"]
    autocomplete_fields = ["tutor", "student"]
    raw_id_fields = ["whiteboard"]
