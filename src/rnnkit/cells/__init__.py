"""One step of a recurrence: RNN, LSTM, GRU (torch.nn's parameter names and gate order), GRU-D
for irregular series with missing values, and ConvLSTM for frames."""

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.convlstm import ConvLSTMCell
from rnnkit.cells.gru import GRUCell, gru_step
from rnnkit.cells.grud import GRUDCell, GRUDState
from rnnkit.cells.lstm import LSTMCell, LSTMState, lstm_step
from rnnkit.cells.rnn import RNNCell, rnn_step

__all__ = ["ConvLSTMCell", "GRUCell", "GRUDCell", "GRUDState", "LSTMCell", "LSTMState", "RNNCell", "RecurrentCell", "gru_step", "lstm_step", "rnn_step"]
