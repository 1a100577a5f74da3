// Module ids by order, not by a hash of the module's identifier: the container entry's identifier
// holds absolute paths, so hashed ids would differ between two clones of the same source. With
// natural ids the shipped bundle (nbversion/labextension) is the same bytes wherever it is built.
module.exports = {
  optimization: { moduleIds: 'natural' }
};
