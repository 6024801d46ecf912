from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from operator_site.lib.api import StrictFieldsMixin

from .models import OperatorSettings


class OperatorSettingsSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = OperatorSettings
        fields = [*OperatorSettings.editable_fields(), "updated_at"]
        read_only_fields = ["updated_at"]


@extend_schema(
    methods=["GET"], responses=OperatorSettingsSerializer, summary="Current settings"
)
@extend_schema(
    methods=["PUT"],
    request=OperatorSettingsSerializer,
    responses=OperatorSettingsSerializer,
    summary="Replace all settings (missing fields take their defaults)",
)
@extend_schema(
    methods=["PATCH"],
    request=OperatorSettingsSerializer,
    responses=OperatorSettingsSerializer,
    summary="Change some settings",
)
@api_view(["GET", "PUT", "PATCH"])
def settings_view(request):
    obj = OperatorSettings.load()
    if request.method == "GET":
        return Response(OperatorSettingsSerializer(obj).data)
    if request.method == "PUT":
        if not isinstance(request.data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        data = {**OperatorSettings.defaults(), **request.data}
        serializer = OperatorSettingsSerializer(obj, data=data)
    else:
        serializer = OperatorSettingsSerializer(obj, data=request.data, partial=True)
    # Every field is validated before anything is written.
    serializer.is_valid(raise_exception=True)
    obj.apply(serializer.validated_data, actor=request.user)
    return Response(OperatorSettingsSerializer(obj).data)


@extend_schema(request=None, responses=OperatorSettingsSerializer, summary="Reset to defaults")
@api_view(["POST"])
def settings_reset_view(request):
    obj = OperatorSettings.load()
    obj.reset(actor=request.user)
    return Response(OperatorSettingsSerializer(obj).data)
