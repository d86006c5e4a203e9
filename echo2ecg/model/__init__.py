"""The Echo2ECG model parts: ECG encoder (OTiS tiny), echo view aggregation, projections, optimiser."""
from echo2ecg.model.echo2ecg_model import Echo2ECG, build_echo2ecg
from echo2ecg.model.ecg_encoder import ECGEncoder, ECGEncoderConfig, load_otis_checkpoint
from echo2ecg.model.projection import ProjectionHead, clip_loss
from echo2ecg.model.view_aggregation import ViewAggregationConfig, build_view_aggregator

__all__ = [
    "ECGEncoder", "ECGEncoderConfig", "load_otis_checkpoint", "ViewAggregationConfig", "build_view_aggregator",
    "ProjectionHead", "clip_loss", "Echo2ECG", "build_echo2ecg",
]
