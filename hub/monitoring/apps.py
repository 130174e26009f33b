from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "hub.monitoring"
    label = "monitoring"
    verbose_name = "运行监控"

    def ready(self):
        from hub.monitoring import jobs

        jobs.connect()
